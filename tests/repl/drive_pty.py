#!/usr/bin/python3
"""drive_pty.py -- drives the entro REPL through a pseudo-terminal, as a person would: the
prompt, Tab completion, readline history, and Ctrl-C at the prompt, in a Lua loop and in
long C kernels. Plain standard library (pty, os, select), no pexpect.

usage: drive_pty.py path/to/entro          (tests/repl/pty.sh runs it)
Prints one line per check and ends with "N passed, N failed"; exits non-zero on failure.
Every wait is for an output pattern with a deadline, never a fixed sleep that must be long
enough; the deadlines are generous (longer still under ENTRO_ASAN). PTY_TIMES=1 also prints
the time at each check and every wait that ran out."""
import os
import pty
import re
import select
import shutil
import signal
import sys
import tempfile
import time

ENTRO = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else "./entro")
SLOW = 4 if os.environ.get("ENTRO_ASAN") else 1
WAIT = 20 * SLOW             # default deadline for an expected output, seconds
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Za-z0-9]|\x1b[=>]|\r")

passed = failed = 0
T0 = time.monotonic()


def report(ok, name, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok   %s" % name)
        if os.environ.get("PTY_TIMES"):
            print("     %.1fs" % (time.monotonic() - T0))
    else:
        failed += 1
        print("FAIL %s%s" % (name, (": " + detail) if detail else ""))
    sys.stdout.flush()


class Session:
    """One entro process on a pseudo-terminal; out is everything it wrote, escapes removed."""

    def __init__(self, home, args=()):
        env = dict(os.environ, HOME=home, TERM="dumb", INPUTRC="/dev/null", ENTRO_QUIET="1")
        env.pop("ENTRO_SEED", None)
        self.pid, self.fd = pty.fork()
        if self.pid == 0:
            try:
                os.execve(ENTRO, [ENTRO] + list(args), env)
            finally:
                os._exit(127)
        self.raw = b""
        self.mark = 0          # expect() searches the output after this point

    @property
    def out(self):
        return ANSI.sub(b"", self.raw).decode("utf-8", "replace")

    def pump(self, timeout):
        """Reads what is available within timeout seconds; False at end of output."""
        r, _, _ = select.select([self.fd], [], [], timeout)
        if not r:
            return True
        try:
            data = os.read(self.fd, 65536)
        except OSError:
            return False
        if not data:
            return False
        self.raw += data
        return True

    def send(self, s):
        os.write(self.fd, s.encode() if isinstance(s, str) else s)

    def expect(self, pattern, timeout=WAIT):
        """Waits for pattern (a regex) after the mark; moves the mark past it. Returns the
        match or None at the deadline or end of output."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.out, self.mark)
            if m:
                self.mark = m.end()
                return m
            left = deadline - time.monotonic()
            if left <= 0 or not self.pump(min(left, 0.2)):
                m = rx.search(self.out, self.mark)
                if m:
                    self.mark = m.end()
                elif os.environ.get("PTY_TIMES"):
                    print("     (no %r within %gs)" % (pattern, timeout))
                return m

    def run(self, line, pattern, timeout=WAIT):
        """Types line and Enter, waits for pattern and then for the next prompt, so that keys
        typed next reach readline rather than the terminal's own line editing."""
        self.send(line + "\n")
        m = self.expect(pattern, timeout)
        if m:
            self.expect(r"(?m)^> ", timeout)
        return m

    def pause(self, seconds):
        """Reads output for a while: a pause, not a wait for anything."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and self.pump(deadline - time.monotonic()):
            pass

    def do(self, stmt, timeout=WAIT):
        """Runs stmt followed by a print of a fresh marker and waits for the marker, so the
        statement has finished and later waits see only later output."""
        self.ndone = getattr(self, "ndone", 0) + 1
        return self.run("%s; print('done' .. %d)" % (stmt, self.ndone),
                        r"(?m)^done%d$" % self.ndone, timeout)

    def alive(self):
        try:
            pid, _ = os.waitpid(self.pid, os.WNOHANG)
        except ChildProcessError:
            return False
        return pid == 0

    def tail(self, n=300):
        return repr(self.out[-n:])

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass
        os.close(self.fd)

    def close(self):
        """Ends input with Ctrl-D and reaps the process (killing it if it hangs); returns its
        exit status, or None when it was killed or already reaped."""
        self.send(b"\x04")
        deadline = time.monotonic() + 10 * SLOW
        status = None
        while status is None and time.monotonic() < deadline:
            self.pump(0.1)
            try:
                pid, st = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == self.pid:
                status = os.waitstatus_to_exitcode(st)
        if status is None:
            self.kill()
        else:
            os.close(self.fd)
        return status


def interrupt(s, what, setup, running, check, limit):
    """Starts `running`, presses Ctrl-C once it has surely begun, and checks that the prompt
    comes back within `limit` seconds with `check` (an expression printing 'chk' .. value)
    still answering."""
    for line in setup:
        if not s.do(line, 180 * SLOW):
            report(False, what, "setup %r gave %s" % (line, s.tail()))
            return
    s.send(running + "\n")
    s.expect(re.escape(running))                 # the echo: the line was read
    s.pause(1.0)                                 # let it get going
    t0 = time.monotonic()
    s.send(b"\x03")
    m = s.expect(r"[^\n]*interrupted[^\n]*", limit * 5)
    if not m:
        report(False, what, "no 'interrupted' after Ctrl-C: " + s.tail())
        return
    message = m.group(0).strip()
    s.expect(r"\n> ", limit * 5)                 # the prompt after the traceback
    dt = time.monotonic() - t0
    m = s.run(check, r"(?m)^chk(\S+)")
    ok = m is not None and m.group(1) == "true" and dt <= limit
    report(ok, "%s (back in %.2fs: %s)" % (what, dt, message),
           "" if ok else "limit %.1fs; check gave %s" % (limit, s.tail()))


def mem_available_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0


def main():
    home = tempfile.mkdtemp(prefix="entro-pty-")
    try:
        # -- prompt, completion, Ctrl-C at the prompt
        s = Session(home)
        report(s.expect(r"(?m)^> ") is not None, "prompt appears", s.tail())

        s.send("tens\t")
        m = s.run(".is_tensor(tens\t.zeros(1))", r"\n(true|false)\b")
        report(m is not None and m.group(1) == "true", "Tab completes a global (tens -> tensor)",
               s.tail())

        s.do("y = tensor.ze\t(3)")
        m = s.run("print('chk' .. y:numel())", r"(?m)^chk(\S+)")
        report(m is not None and m.group(1) == "3",
               "Tab completes a module field (tensor.ze -> tensor.zeros)", s.tail())

        s.do("x = tensor.zeros(2)")
        m = s.run("print('chk' .. x:nu\t())", r"(?m)^chk(\S+)")
        report(m is not None and m.group(1) == "2",
               "Tab completes a tensor method (x:nu -> x:numel)", s.tail())

        m = s.run("print('chk' .. #tensor.linalg.eigv\t(tensor.eye(2)))", r"(?m)^chk(\S+)")
        report(m is not None and m.group(1) == "2",
               "Tab completes a nested field (tensor.linalg.eigv -> eigvalsh)", s.tail())

        s.do("w = tensor.ones(3):requires_grad()")
        m = s.run("print('chk' .. tostring(w.needs_gr\t))", r"(?m)^chk(\S+)")
        report(m is not None and m.group(1) == "true", "Tab completes a tensor field (w.needs_gr)",
               s.tail())

        m = s.run("print('chk' .. tensor.zeros(4):nu\tmel())", r"(?m)^chk(\S+)")
        report(m is not None and m.group(1) == "4",
               "Tab after a call offers nothing and does no harm", s.tail())

        s.do("t = {alpha_beta = 1}")
        m = s.run("print('chk' .. t.alp\t)", r"(?m)^chk(\d+)")
        report(m is not None and m.group(1) == "1", "Tab completes a table field", s.tail())

        s.send("this_is_half_typed")
        s.expect(r"half_typed")
        s.send(b"\x03")
        s.expect(r"\^C\n")   # seen before typing on, as a person would
        m = s.run("print('chk' .. 6 * 7)", r"(?m)^chk(\S+)")
        report(m is not None and m.group(1) == "42" and s.alive(),
               "Ctrl-C at the prompt clears the line, the session goes on", s.tail())

        s.send("for i = 1, 3 do\n")
        s.expect(r">> ")
        s.send(b"\x03")
        s.expect(r"\^C\n")
        m = s.run("print('chk' .. 'after')", r"(?m)^chk(\S+)")
        report(m is not None and m.group(1) == "after",
               "Ctrl-C at the continuation prompt abandons the chunk", s.tail())

        s.do("keep = 42")
        s.send("got = io.read()\n")
        s.expect(r"got = io.read\(\)")
        s.pause(0.5)
        s.send(b"\x03")
        m = s.expect(r"interrupted", WAIT)
        m = m and s.run("print('chk' .. tostring(got == nil and keep == 42))", r"(?m)^chk(\S+)")
        report(m is not None and m.group(1) == "true", "Ctrl-C stops a blocking io.read()",
               s.tail())

        interrupt(s, "Ctrl-C stops `while true do end`", [], "while true do end",
                  "print('chk' .. tostring(keep == 42))", 2.0 * SLOW)

        interrupt(s, "Ctrl-C stops a loop of 4000x4000 matmuls",
                  ["a = tensor.ones(4000, 4000)"],
                  "for i = 1, 1000 do b = a:matmul(a) end",
                  "print('chk' .. tostring(a:sum() == 16e6 and keep == 42))", 2.0 * SLOW)

        # Single ops over 5e8 elements (4 GB) when memory allows, each taking seconds, so the
        # Ctrl-C lands inside one: only a kernel that polls the interrupt flag comes back in
        # time. The loops merely keep them busy should they become fast.
        n = 500000000 if mem_available_gb() > 12 and not os.environ.get("ENTRO_ASAN") else 50000000
        interrupt(s, "Ctrl-C stops a big elementwise op (pow_ over %.0e elements)" % n,
                  ["big = tensor.ones(%d)" % n],
                  "for i = 1, 1000 do big:pow_(1.0000001) end",
                  "print('chk' .. tostring(big:numel() == %d and a:sum() == 16e6))" % n, 2.0 * SLOW)
        interrupt(s, "Ctrl-C stops a reduction along a dimension (%.0e elements)" % n,
                  ["m = big:view(%d, 10000)" % (n // 10000)],
                  "for i = 1, 1000 do r = m:logsumexp(1) end",
                  "print('chk' .. tostring(m:numel() == %d and keep == 42))" % n, 2.0 * SLOW)
        interrupt(s, "Ctrl-C stops a full reduction (logsumexp of %.0e elements)" % n, [],
                  "for i = 1, 1000 do r = big:logsumexp() end",
                  "print('chk' .. tostring(big:numel() == %d and keep == 42))" % n, 2.0 * SLOW)
        s.kill()

        # -- history: written by one session, recalled with the up arrow in the next
        s = Session(home)
        s.expect(r"(?m)^> ")
        s.run("hist_marker = 12345", r"hist_marker = 12345")
        status = s.close()
        report(status == 0, "Ctrl-D ends the session with status 0", "status %r" % status)
        hist = os.path.join(home, ".entro_history")
        try:
            with open(hist) as f:
                text = f.read()
        except OSError:
            text = ""
        report("hist_marker = 12345" in text, "history written to $HOME/.entro_history",
               repr(text[-200:]))

        s = Session(home)
        s.expect(r"(?m)^> ")
        s.send(b"\x1b[A")
        s.expect(r"hist_marker = 12345")
        s.send("\n")
        m = s.run("print('chk' .. hist_marker)", r"(?m)^chk(\S+)")
        report(m is not None and m.group(1) == "12345", "up arrow recalls the last session's line",
               s.tail())
        s.close()
        with open(hist) as f:
            text = f.read()
        report("hist_marker = 12345" in text and "print('chk' .. hist_marker)" in text,
               "a second session appends to the history file", repr(text[-200:]))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
