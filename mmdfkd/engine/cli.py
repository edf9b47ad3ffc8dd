"""One-line errors for the command-line tools: :func:`run_cli`.

Every tool ends with ``run_cli(main)``. An error raised on purpose, to refuse a
user's input, is printed as one line, ``error: <message>``, on stderr, and the
tool exits with :data:`USER_ERROR_EXIT` (2, as argparse does for bad
arguments). Anything else (a bug) keeps Python's traceback. ``--debug``
anywhere on the command line, or ``MMDFKD_DEBUG=1``, shows the traceback of
every error.

The rule for "raised on purpose": the exception is one of
:data:`USER_ERROR_TYPES`, and the innermost frame of its traceback is a
``raise`` statement in mmdfkd's package, in the tool's own folder, or in
MMEngine's config and registry code (which parses the config and builds what
it names), or the registry's call of a class that failed on its keyword
arguments (a ``TypeError`` before the class's ``__init__`` ran). So ``FileNotFoundError`` for a missing checkpoint,
``UntrustedCheckpointError``, a ``KeyError`` for an unknown generator, a
``ValueError`` for a bad image size or a ``FloatingPointError`` for a teacher
that outputs NaN are one line, while a ``RuntimeError`` from inside torch (a
shape mismatch, even in a torch operator called from mmdfkd's code) keeps its
traceback.

In a run of several processes, an error raised by ``torch.distributed`` (a
collective whose peer died, or that waited longer than
``env_cfg.dist_cfg.timeout``) is one line too, saying that another rank has
probably died and that all ranks resume with ``--resume``.

An unknown keyword in the config (``--cfg-options model.genertor.img_size=64``
gives ``TypeError: DataFreeDistiller.__init__() got an unexpected keyword
argument 'genertor'``) is reported with the closest valid keys of the class
being built (``did you mean 'generator'?``).
"""
import difflib
import dis
import inspect
import os
import os.path as osp
import pickle
import re
import sys
from types import TracebackType
from typing import Callable, Iterator, List, Optional

import mmdfkd

from .launch import DEFAULT_DIST_TIMEOUT_S, close_distributed

DEBUG_FLAG = '--debug'
ENV_DEBUG = 'MMDFKD_DEBUG'
USER_ERROR_EXIT = 2
INTERRUPTED_EXIT = 130  # 128 + SIGINT, as a shell reports Ctrl-C

# Types of the errors mmdfkd and config building raise to refuse an input.
USER_ERROR_TYPES = (OSError, pickle.UnpicklingError, ValueError, KeyError, TypeError, RuntimeError,
                    ArithmeticError, ImportError)
# Subclasses of those that mean a bug, never a user's mistake.
_BUG_TYPES = (NotImplementedError, RecursionError)
_MMENGINE_BUILD_DIRS = ('config', 'registry')
_UNEXPECTED_KWARG = re.compile(r"__init__\(\) got an unexpected keyword argument '(\w+)'")


def _debug_requested(argv: List[str]) -> bool:
    return DEBUG_FLAG in argv[1:] or os.environ.get(ENV_DEBUG, '').strip().lower() not in ('', '0', 'false', 'no')


def _frames(tb: Optional[TracebackType]) -> Iterator:
    while tb is not None:
        yield tb.tb_frame
        tb = tb.tb_next


def _mmengine_dir(sub: str) -> str:
    import mmengine
    return osp.join(osp.dirname(osp.abspath(mmengine.__file__)), sub) + osp.sep


def _our_dirs(main: Callable) -> List[str]:
    return ([osp.dirname(osp.abspath(mmdfkd.__file__)) + osp.sep,
             osp.dirname(osp.abspath(main.__code__.co_filename)) + osp.sep]
            + [_mmengine_dir(sub) for sub in _MMENGINE_BUILD_DIRS])


def is_user_error(err: BaseException, main: Callable) -> bool:
    """Whether ``err`` refuses an input on purpose (see the module docstring for the rule)."""
    if not isinstance(err, USER_ERROR_TYPES) or isinstance(err, _BUG_TYPES):
        return False
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    code = tb.tb_frame.f_code
    where = osp.abspath(code.co_filename)
    if not any(where.startswith(d) for d in _our_dirs(main)):
        return False
    if isinstance(err, TypeError) and where.startswith(_mmengine_dir('registry')):
        return True  # the registry's call of a class failed before its __init__ ran: the config's keys
    # A raise statement, not an operator or a C function (torch) failing on that line.
    return any(ins.offset == tb.tb_lasti and ins.opname in ('RAISE_VARARGS', 'RERAISE')
               for ins in dis.get_instructions(code))


def _init_keys(cls: type) -> List[str]:
    """Keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the class hierarchy."""
    keys: List[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            break
        keys += [p.name for p in params if p.name != 'self' and p.name not in keys
                 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
        if not any(p.kind == p.VAR_KEYWORD for p in params):
            break
    return keys


def _built_class(err: BaseException) -> Optional[type]:
    """The class MMEngine's ``build_from_cfg`` was building when ``err`` was raised (its ``obj_cls``)."""
    for frame in reversed(list(_frames(err.__traceback__))):  # innermost first
        cls = frame.f_locals.get('obj_cls')
        if isinstance(cls, type):
            return cls
    return None


def unknown_key_hint(err: BaseException) -> Optional[str]:
    """For "X.__init__() got an unexpected keyword argument 'k'": the message with the closest valid keys."""
    match = _UNEXPECTED_KWARG.search(str(err)) if isinstance(err, TypeError) else None
    if match is None:
        return None
    key = match.group(1)
    cls = _built_class(err)
    if cls is None:
        return None
    valid = _init_keys(cls)
    close = difflib.get_close_matches(key, valid, n=3, cutoff=0.7)
    if close:
        others = f' (or {", ".join(repr(k) for k in close[1:])})' if close[1:] else ''
        hint = f'did you mean {close[0]!r}{others}?'
    else:
        hint = f'its keys are: {", ".join(valid)}.'
    return f'{cls.__name__} has no config key {key!r}: {hint} (check the config or --cfg-options)'


def error_message(err: BaseException) -> str:
    """The one-line message for a user error (newlines joined), or :func:`unknown_key_hint`'s."""
    hint = unknown_key_hint(err)
    if hint is not None:
        return hint
    text = err.args[0] if isinstance(err, KeyError) and len(err.args) == 1 and isinstance(err.args[0], str) \
        else str(err)
    return ' '.join(line.strip() for line in text.splitlines() if line.strip()) or type(err).__name__


def collective_failure_message(err: BaseException) -> Optional[str]:
    """For an error raised by ``torch.distributed`` in a run of several processes: what happened and what to do."""
    world_size = int(os.environ.get('WORLD_SIZE', '1') or 1)
    tb = err.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if world_size < 2 or tb is None or not isinstance(err, RuntimeError):
        return None
    where = osp.abspath(tb.tb_frame.f_code.co_filename).replace(osp.sep, '/')
    if '/torch/distributed/' not in where:
        return None
    detail = ' '.join(str(err).split())[:300]
    return (f'a collective operation with the other {world_size - 1} process(es) failed ({detail}). Another rank '
            'has probably died (read its log) or hung; collectives wait at most env_cfg.dist_cfg.timeout seconds '
            f'({DEFAULT_DIST_TIMEOUT_S} by default). Restart all {world_size} processes with --resume to continue '
            'from the last checkpoint.')


def _rank_tag() -> str:
    world_size = int(os.environ.get('WORLD_SIZE', '1') or 1)
    return f' (rank {os.environ.get("RANK", "?")})' if world_size > 1 else ''


def run_cli(main: Callable[[], None]) -> None:
    """Run a tool's ``main()``; user errors and lost ranks become one line on stderr and exit code 2.

    ``--debug`` is removed from ``sys.argv`` before ``main`` parses it (so
    every tool accepts it, before or after a sub-command). A stop requested by
    SIGTERM / SIGINT during training (:class:`~mmdfkd.engine.preemption.TrainingPreempted`)
    prints one line and exits with ``128 + signal`` after its checkpoint is
    written; Ctrl-C elsewhere exits with 130 without a traceback. However the
    tool ends, a process group it started is destroyed before the interpreter
    exits (:func:`~mmdfkd.engine.launch.close_distributed`).

    Args:
        main (Callable[[], None]): The tool's entry point.
    """
    from .preemption import TrainingPreempted
    debug = _debug_requested(sys.argv)
    sys.argv[1:] = [arg for arg in sys.argv[1:] if arg != DEBUG_FLAG]
    try:
        main()
    except TrainingPreempted as err:
        print(f'stopped{_rank_tag()}: {err}', file=sys.stderr, flush=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        if debug:
            raise
        print(f'error{_rank_tag()}: interrupted', file=sys.stderr, flush=True)
        sys.exit(INTERRUPTED_EXIT)
    except Exception as err:  # noqa: BLE001  (sorted into user errors, lost ranks and bugs below)
        message = None if debug else collective_failure_message(err)
        if message is None and (debug or not is_user_error(err, main)):
            raise
        sys.stdout.flush()
        print(f'error{_rank_tag()}: {message or error_message(err)} [{DEBUG_FLAG} or {ENV_DEBUG}=1 shows the '
              'traceback]', file=sys.stderr, flush=True)
        sys.exit(USER_ERROR_EXIT)
    finally:
        close_distributed()

