"""OCR engine settings compared on real images: CPU seconds per image and cross-validated F1.

    .venv/bin/python bench/ocr_engines.py [--settings ppocrv6 rapidocr ppocrv6-tiny] [--runs 1]
        [--sets dev mix] [--rows 0] [--keep DIR]

A setting is an --ocr_engine value, optionally with more job options after a colon
('ppocrv6:--ppocr_detection_side=1280'). For each setting and each set (../shared/data/dev,
../shared/data/mix) it runs the whole job (`python -m pipeline.run`, 2 worker processes, the
rule chooser) and measures the CPU time of the job's process tree (user + system, as
/usr/bin/time does, from wait4) per image: everything included, start-up too. The settings are
interleaved run by run, so that machine noise falls on all alike; CPU time, unlike wall time,
hardly depends on what else the machine runs.

Then, on each setting's records of all sets together, the learned chooser is trained and
scored with 5 folds by image (pipeline.train_chooser): the F1 each setting would give, with
no image's rows both trained on and scored, as the mean over the standard split and --deals
random deals of images to folds. It prints one table: per setting, the median CPU s/image per
set, the ratio to the first setting, numeric F1 on dev, on mix and on both, the mix-weighted F1
of both, and the paired difference to the first setting over the same deals (mean, and the
range of the middle 95% of the deals' differences): a difference inside that range is noise.
"""
import argparse
import csv
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
DATA = os.path.join(ROOT, '..', 'shared', 'data')


def job_cpu_seconds(input_path: str, images_dir: str, output: str, options: list) -> float:
    """Run the job; the CPU seconds (user + system) of it and every process it waited for."""
    argv = [sys.executable, '-m', 'pipeline.run', f'--input={input_path}', f'--images_dir={images_dir}',
            f'--output={output}', '--quiet', '--chooser=rules', '--direct_num_workers=2',
            '--direct_running_mode=multi_processing', *options]
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    errors = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f'the job failed: {errors.decode(errors="replace")[-2000:]}')
    return usage.ru_utime + usage.ru_stime


def first_rows(set_name: str, rows: int, work: str) -> tuple:
    """(input CSV of the set's first `rows` rows (0: all), number of distinct images in it)."""
    with open(os.path.join(DATA, set_name, 'input.csv'), newline='') as handle:
        table = list(csv.reader(handle))
    table = table[:rows + 1] if rows else table
    path = os.path.join(work, f'{set_name}.csv')
    with open(path, 'w', newline='') as handle:
        csv.writer(handle, lineterminator='\n').writerows(table)
    return path, len({row[1] for row in table[1:]})


def cross_validated_f1(outputs: dict, deals: int = 0) -> dict:
    """{'dev': numeric F1, 'mix': ..., 'mix-weighted': of all sets, 'numeric': of all sets} with 5
    folds by image: the standard split, or the mean over it and `deals` random deals of images to
    folds ('deals': each one's figures, for pairing with another setting's)."""
    from pipeline.evaluate import evaluate, read_labels
    from pipeline.train_chooser import cross_validated, read_sets, truth_of_labels
    from transforms.logic.priors import load_priors
    priors = load_priors()
    names = sorted(outputs)
    labels_paths = [os.path.join(DATA, n, 'labels.csv') for n in names]
    truths = [truth_of_labels(read_labels(path)) for path in labels_paths]
    rows = read_sets([os.path.join(outputs[n], 'records') for n in names], labels_paths, priors, truths)
    labels = [label for label, _, _ in rows]
    each = []
    for seed in [None] + list(range(deals)):
        predicted, _ = cross_validated(rows, priors, 5, seed)  # (predictions, confidences)
        result = {name: evaluate([label for label in labels if label.get('set', name) == name],
                                 predicted)['numeric']['f1'] for name in names}
        overall = evaluate(labels, predicted)
        result.update({'mix-weighted': overall['mix_weighted']['f1'], 'numeric': overall['numeric']['f1']})
        each.append(result)
    means = {key: statistics.mean(r[key] for r in each) for key in each[0]}
    return dict(means, deals=each)


def paired(scores: dict, base: dict, key: str) -> str:
    """'+0.0012 (-0.0030 to +0.0041)': the mean difference over the same deals of images to folds,
    and the range the middle 95% of the per-deal differences span (the deals are paired)."""
    differences = sorted(a[key] - b[key] for a, b in zip(scores['deals'], base['deals']))
    low = differences[int(0.025 * (len(differences) - 1))]
    high = differences[int(round(0.975 * (len(differences) - 1)))]
    return f'{statistics.mean(differences):+.4f} ({low:+.4f} to {high:+.4f})'


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--settings', nargs='+', default=['ppocrv6', 'rapidocr', 'ppocrv6-tiny'])
    parser.add_argument('--sets', nargs='+', default=['dev', 'mix'])
    parser.add_argument('--rows', type=int, default=0, help='first rows of each set (0: all)')
    parser.add_argument('--runs', type=int, default=1)
    parser.add_argument('--keep', help='write the runs here (default: a temporary folder)')
    parser.add_argument('--reuse', action='store_true',
                        help='with --keep: take the runs an earlier invocation finished there instead of running '
                             'them again (the code must be the same)')
    parser.add_argument('--deals', type=int, default=12,
                        help='random deals of images to folds besides the standard split; F1 is their mean, and '
                             'each setting is compared with the first on the same deals (paired)')
    args = parser.parse_args(argv)
    work = args.keep or tempfile.mkdtemp(prefix='specscan-ocr-bench-')
    os.makedirs(work, exist_ok=True)
    inputs = {name: first_rows(name, args.rows, work) for name in args.sets}
    cpu = {(setting, name): [] for setting in args.settings for name in args.sets}
    outputs = {setting: {} for setting in args.settings}
    for run in range(args.runs):
        for setting in args.settings:
            engine, *options = setting.split(':')
            for name, (input_path, images) in inputs.items():
                output = os.path.join(work, f'{setting.replace(":", "_").replace("=", "-")}-{name}-{run}')
                done = os.path.join(output, 'cpu_seconds.txt')
                if args.reuse and os.path.exists(done):  # a run of an earlier invocation, whole
                    with open(done) as handle:
                        seconds = float(handle.read())
                else:
                    seconds = job_cpu_seconds(input_path, os.path.join(DATA, name, 'images'), output,
                                              [f'--ocr_engine={engine}', *options])
                    with open(done, 'w') as handle:
                        handle.write(f'{seconds}\n')
                cpu[setting, name].append(seconds / images)
                outputs[setting][name] = output
                print(f'run {run + 1}/{args.runs} {setting} {name}: {seconds / images:.3f} CPU s/image',
                      file=sys.stderr)
    first = args.settings[0]
    print(f'\n{", ".join(f"{n} ({inputs[n][1]} images)" for n in args.sets)}, {args.runs} run(s) per setting, '
          f'{os.cpu_count()} cores, 2 worker processes')
    print('| setting | ' + ' | '.join(f'CPU s/image {n} (median)' for n in args.sets)
          + f' | vs {first} | ' + ' | '.join(f'F1 {n}' for n in args.sets)
          + f' | F1 | mix-weighted F1 | paired vs {first}: F1 | mix-weighted |')
    print('|---' * (2 * len(args.sets) + 6) + '|')
    base_scores = cross_validated_f1(outputs[first], args.deals)
    for setting in args.settings:
        medians = [statistics.median(cpu[setting, n]) for n in args.sets]
        base = sum(statistics.median(cpu[first, n]) * inputs[n][1] for n in args.sets)
        ratio = sum(m * inputs[n][1] for m, n in zip(medians, args.sets)) / base
        scores = base_scores if setting == first else cross_validated_f1(outputs[setting], args.deals)
        print(f'| {setting} | ' + ' | '.join(f'{m:.3f}' for m in medians) + f' | {ratio:.2f}x | '
              + ' | '.join(f'{scores[n]:.4f}' for n in args.sets)
              + f' | {scores["numeric"]:.4f} | {scores["mix-weighted"]:.4f} | '
              + f'{paired(scores, base_scores, "numeric")} | {paired(scores, base_scores, "mix-weighted")} |')
    print(f'\noutputs under {work}')


if __name__ == '__main__':
    main()
