"""`specscan`: one command for the job and the tools around it.

    specscan run --input rows.csv --output OUT [options]
    specscan report --run OUT
    specscan evaluate | errors | train | store ...

Each subcommand hands the rest of its arguments to its module's main(argv): `specscan run
--help` is `python -m pipeline.run --help`, and every `python -m pipeline.X` keeps working.
Modules are imported only when their subcommand runs, so `specscan --help` is instant.
"""
import importlib
import sys

# subcommand -> (the module whose main(argv) it runs, one line on what it does)
COMMANDS = {
    'run': ('pipeline.run', 'read product facts from the images of a CSV of rows (the Beam job)'),
    'evaluate': ('pipeline.evaluate', "F1 of a run's predictions.csv against labels, by the challenge's rules"),
    'report': ('pipeline.report', 'the HTML report of a run: F1 by entity, kinds of error, confidence, '
                                  'wrong rows with their images'),
    'errors': ('pipeline.errors', 'sort every wrong row of a run by where the truth was lost'),
    'train': ('pipeline.train_chooser', 'fit the learned chooser on labelled runs (transforms/data/chooser.json)'),
    'store': ('pipeline.store_tool', 'what a result store (--store) holds, and pruning the versions no job reads'),
}


def usage() -> str:
    lines = ['usage: specscan COMMAND [ARGS]    (specscan COMMAND --help lists its options)', '', 'commands:']
    lines += [f'  {name:10s}{what}' for name, (_, what) in COMMANDS.items()]
    return '\n'.join(lines)


def main(argv=None) -> int:
    """The console script; tests pass argv. From the console, `run` ends as `python -m pipeline.run` does."""
    from_console = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ('-h', '--help'):
        print(usage(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    command, rest = argv[0], argv[1:]
    if command not in COMMANDS:
        print(f"specscan: unknown command {command!r}; choose from {', '.join(COMMANDS)} (specscan --help)",
              file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[command][0])
    if from_console:  # argparse names the program after argv[0]: 'usage: specscan report ...'
        sys.argv[0] = f'specscan {command}'
    code = module.main(rest)
    if from_console and command == 'run':
        module.exit_without_teardown(code)
    return code


if __name__ == '__main__':
    sys.exit(main())
