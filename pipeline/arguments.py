"""Command lines that refuse what they do not know.

Beam's PipelineOptions only warns about a flag it does not know ('Discarding unparseable args'),
and argparse takes any unambiguous prefix of an option: either way `specscan run ...
--min_confidense 0.9` or `--stor DIR` would run another job than the one asked for, and exit 0.
Every specscan command line is checked here first: an unknown or misspelled flag stops it
before any work, with exit code 2 and one line naming the flag and the nearest known option.
"""
import argparse
import difflib
import sys
from typing import Iterable, Optional, Sequence


class UnknownOption(Exception):
    """A flag no option of the command takes; the message names it and the nearest one."""


def unknown_option_message(flag: str, known: Iterable[str]) -> str:
    """'unknown option --stor; did you mean --store?' (or '...; see --help' when nothing is near)."""
    name = flag.split('=', 1)[0]
    near = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
    return f'unknown option {name}; ' + (f'did you mean {near[0]}?' if near else 'see --help for every option')


def first_flag(arguments: Iterable[str]) -> Optional[str]:
    """The first argument that is a flag ('--x' or '-x'), or None when all are values."""
    return next((argument for argument in arguments if argument.startswith('-') and argument != '-'), None)


def check_pipeline_flags(argv: Sequence[str]) -> None:
    """UnknownOption when argv holds a flag that neither specscan's options nor any of Beam's runners
    (Direct, Dataflow, Dask, portable) take; Beam's and Dataflow's options pass untouched."""
    import pipeline.options  # noqa: F401  registers SpecscanOptions
    flag, known = _first_unknown(argv)
    if flag:  # a runner's options register when its module is imported: Dask's costs 0.5 s, so only now
        import apache_beam.runners.dask.dask_runner  # noqa: F401  registers DaskOptions (--dask_*)
        flag, known = _first_unknown(argv)
    if flag:
        raise UnknownOption(unknown_option_message(flag, known))


def _first_unknown(argv: Sequence[str]) -> tuple:
    """(the first flag no registered options class takes, or None; every known option string)."""
    from apache_beam.options.pipeline_options import PipelineOptions
    parser = argparse.ArgumentParser(allow_abbrev=False, add_help=False)
    for options_class in _all_subclasses(PipelineOptions):
        options_class._add_argparse_args(parser)
    _, unknown = parser.parse_known_args(list(argv))
    return first_flag(unknown), parser._option_string_actions


def _all_subclasses(cls) -> list:
    """Every options class Beam would parse, each once (Beam's own list takes direct subclasses)."""
    found = {}
    for sub in cls.__subclasses__():
        found.setdefault(sub.__name__ + sub.__module__, sub)
        for deeper in _all_subclasses(sub):
            found.setdefault(deeper.__name__ + deeper.__module__, deeper)
    return list(found.values())


class StrictParser(argparse.ArgumentParser):
    """argparse that takes no abbreviation of an option and answers an unknown flag with one line
    naming it and the nearest known option (exit code 2); other errors as argparse does."""

    def __init__(self, *args, **kwargs):
        kwargs['allow_abbrev'] = False
        super().__init__(*args, **kwargs)

    def parse_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        # an unknown flag first: a misspelled required option would otherwise read as a missing one
        flag = first_flag(arg for arg in args[:args.index('--') if '--' in args else len(args)]
                          if arg.split('=', 1)[0] not in self._option_string_actions
                          and not self._negative_number_matcher.match(arg))
        if flag:
            self.exit(2, f'{self.prog}: {unknown_option_message(flag, self._option_string_actions)}\n')
        parsed, unknown = self.parse_known_args(args, namespace)
        if unknown:
            self.exit(2, f'{self.prog}: unexpected argument {unknown[0]!r}\n')
        return parsed
