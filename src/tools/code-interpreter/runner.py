# The Python side of a code_interpreter session, shared by both backends.
#
# bwrap:   `python3 -I -u runner.py fd`     requests on stdin, replies on the original stdout;
#          the cell's stdout/stderr (fd 1 and 2, so subprocesses too) go to a file that is read back.
# pyodide: the worker runs this file, then calls `run_cell(code)` itself ("redirect" capture).
#
# A request is one JSON line {"code": "..."}; a reply is one JSON line
# {"output": str, "images": [base64 png], "error": bool, "interrupted": bool}.
import ast
import base64
import io
import json
import linecache
import os
import signal
import sys
import time
import traceback
import warnings

MAX_OUTPUT = 20000
CAPTURE_PATH = '/tmp/.threadline-cell-output'

# The non-interactive backend warns on plt.show(); figures are collected after each cell instead.
os.environ.setdefault('MPLBACKEND', 'Agg')
warnings.filterwarnings('ignore', message='.*non-interactive.*')
warnings.filterwarnings('ignore', message='.*Matplotlib is currently using agg.*')

user_globals = {'__name__': '__main__', '__builtins__': __builtins__}
cell_counter = [0]
executing = [False]


MAIN_PID = [os.getpid()]


def end_stray_processes():
    # As pid 1 of the sandbox (bwrap mode), nothing a cell started outlives it: no background
    # loops or fork bombs between cells, no zombies.
    if os.getpid() != 1:
        return
    for _ in range(400):
        others = [int(n) for n in os.listdir('/proc') if n.isdigit() and n != '1']
        if not others:
            return
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        while True:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
        time.sleep(0.005)


def on_sigint(signum, frame):
    # The host's soft time limit. Only user code is interrupted; a late signal is dropped.
    if executing[0]:
        raise KeyboardInterrupt


def clip(text):
    if len(text) <= MAX_OUTPUT:
        return text
    half = MAX_OUTPUT // 2
    return text[:half] + '\n[... %d characters omitted ...]\n' % (len(text) - 2 * half) + text[-half:]


def collect_figures():
    plt = sys.modules.get('matplotlib.pyplot')
    if plt is None:
        return []
    images = []
    for num in plt.get_fignums():
        buf = io.BytesIO()
        try:
            plt.figure(num).savefig(buf, format='png', dpi=100)
            images.append(base64.b64encode(buf.getvalue()).decode('ascii'))
        except Exception as e:  # a broken figure must not lose the cell's other output
            print('Could not render figure %s: %s' % (num, e), file=sys.stderr)
    plt.close('all')
    return images


def user_traceback(exc):
    # Hide the runner's own frames: the model should see only its cell.
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file_name__:
        tb = tb.tb_next
    return ''.join(traceback.format_exception(type(exc), exc, tb))


def execute(code):
    """Run one cell like a notebook: statements, then the value of a final expression."""
    cell_counter[0] += 1
    name = '<cell-%d>' % cell_counter[0]
    linecache.cache[name] = (len(code), None, code.splitlines(True), name)
    tree = ast.parse(code, name, 'exec')
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    exec(compile(tree, name, 'exec'), user_globals)
    if last is not None:
        value = eval(compile(last, name, 'eval'), user_globals)
        if value is not None:
            user_globals['_'] = value
            print(repr(value))


def run_cell(code, read_output, begin_output):
    """Returns the reply dict. `begin_output`/`read_output` capture what the cell prints."""
    begin_output()
    error = False
    interrupted = False
    executing[0] = True
    try:
        try:
            execute(code)
        finally:
            executing[0] = False
    except KeyboardInterrupt:
        interrupted = True
    except SystemExit as e:
        print('SystemExit: %s (the session keeps running)' % (e.code,), file=sys.stderr)
    except BaseException as e:
        error = True
        sys.stderr.write(user_traceback(e))
    if os.getpid() != MAIN_PID[0]:
        os._exit(1)  # a child the cell forked fell through to here: it must not answer the host
    end_stray_processes()
    images = []
    try:
        images = collect_figures()
    except BaseException as e:
        sys.stderr.write('Could not collect figures: %r\n' % (e,))
    return {'output': clip(read_output()), 'images': images, 'error': error, 'interrupted': interrupted}


# The runner's own code object filename (its path under bwrap, '<exec>' in pyodide).
__file_name__ = execute.__code__.co_filename


def serve_fd():
    """bwrap mode: a private copy of stdin/stdout carries the protocol; fd 0 becomes /dev/null."""
    proto_in = os.fdopen(os.dup(0), 'rb')
    proto_out = os.fdopen(os.dup(1), 'wb')
    null = os.open('/dev/null', os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    signal.signal(signal.SIGINT, on_sigint)

    def begin_output():
        fd = os.open(CAPTURE_PATH, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = sys.__stdout__
        sys.stderr = sys.__stderr__

    def read_output():
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            with open(CAPTURE_PATH, 'rb') as f:
                size = os.fstat(f.fileno()).st_size
                if size > 4 * MAX_OUTPUT:
                    head = f.read(MAX_OUTPUT // 2)
                    f.seek(size - MAX_OUTPUT // 2)
                    data = head + b'\n[... %d bytes omitted ...]\n' % (size - MAX_OUTPUT) + f.read()
                else:
                    data = f.read()
        except OSError as e:
            data = ('(output unavailable: %s)' % e).encode()
        return data.decode('utf-8', 'replace')

    def reply(obj):
        proto_out.write(json.dumps(obj).encode() + b'\n')
        proto_out.flush()

    reply({'ready': True})
    while True:
        try:
            line = proto_in.readline()
            if not line:
                return
            request = json.loads(line)
            reply(run_cell(request['code'], read_output, begin_output))
        except KeyboardInterrupt:
            continue  # a soft interrupt that arrived after the cell ended


def redirect_capture():
    """pyodide mode: Python-level capture (there are no subprocesses)."""
    buf = [io.StringIO()]

    def begin_output():
        buf[0] = io.StringIO()
        sys.stdout = buf[0]
        sys.stderr = buf[0]

    def read_output():
        sys.stdout = sys.__stdout__
        sys.stderr = sys.__stderr__
        return buf[0].getvalue()

    return begin_output, read_output


def run_cell_json(code):
    begin_output, read_output = redirect_capture()
    return json.dumps(run_cell(code, read_output, begin_output))


if __name__ == '__main__' and sys.argv[1:] == ['fd']:
    os.makedirs('/mnt/data', exist_ok=True)
    serve_fd()
