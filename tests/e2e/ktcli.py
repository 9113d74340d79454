"""Running the ktmon command in e2e tests."""

import json
import os
import subprocess

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
KTMON = os.path.join(TOP, 'build', 'ktmon')


class Result:
    def __init__(self, proc):
        self.rc = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr

    def json(self):
        return json.loads(self.out)

    def __repr__(self):
        return 'ktmon rc=%d\nstdout:\n%s\nstderr:\n%s' % (self.rc, self.out[-4000:], self.err[-4000:])


def ktmon(*args, timeout=120, env=None):
    """Run build/ktmon with args; returns a Result (rc, out, err)."""
    if not os.path.exists(KTMON):
        raise FileNotFoundError('%s missing: run make' % KTMON)
    e = dict(os.environ)
    if env:
        e.update(env)
    proc = subprocess.run([KTMON] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=timeout, env=e)
    return Result(proc)


def ok(*args, **kw):
    """Run ktmon and assert exit status 0."""
    r = ktmon(*args, **kw)
    assert r.rc == 0, r
    return r
