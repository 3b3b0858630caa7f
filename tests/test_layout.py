"""The house's layout: each stage on the job graph lives in the module named after its label, and
the logic the stages call imports no Beam."""
import ast
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOGIC = os.path.join(ROOT, 'transforms', 'logic')


def words(name: str) -> list:
    """'ReadText' -> ['read', 'text']."""
    return [word.lower() for word in re.findall(r'[A-Z][a-z]*', name)]


def graph_stages() -> list:
    """(label, class name, module it is imported from) of every `'Label' >> Class(...)` in graph.py
    whose class is specscan's own (Beam's Flatten and Map are Beam's)."""
    tree = ast.parse(open(os.path.join(ROOT, 'pipeline', 'graph.py')).read())
    imported = {alias.asname or alias.name: node.module for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) for alias in node.names}
    stages = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.BinOp) and isinstance(node.op, ast.RShift) and isinstance(node.left, ast.Constant)
                and isinstance(node.right, ast.Call) and isinstance(node.right.func, ast.Name)):
            name = node.right.func.id
            stages.append((node.left.value, name, imported[name]))
    return stages


def misplaced(stages) -> list:
    """The stages whose module is named neither after the label, its class, nor one word of the label
    ('ReadRows' in read.py is fine, 'ReadText' in ocr.py is not)."""
    wrong = []
    for label, name, module in stages:
        package, file = module.rsplit('.', 1)
        if package != 'transforms' or not (file in ('_'.join(words(label)), '_'.join(words(name)))
                                           or file in words(label)):
            wrong.append((label, module))
    return wrong


def test_every_stage_label_lives_in_the_module_named_after_it():
    stages = graph_stages()
    assert {label for label, _, _ in stages} >= {'ReadRows', 'FetchImages', 'Recall', 'Preprocess', 'Embed',
                                                   'ReadText', 'Remember', 'MarkProgress', 'Candidates', 'Choose',
                                                   'Annotate', 'RejectedRows', 'WriteOutputs'}
    assert misplaced(stages) == []


def test_the_rule_catches_what_the_layout_was():
    before = [('ReadText', 'ReadText', 'transforms.ocr'), ('Candidates', 'Candidates', 'transforms.row_candidates'),
              ('Choose', 'Choose', 'transforms.predict'), ('ReadRows', 'ReadRows', 'transforms.read'),
              ('MarkProgress', 'MarkImagesDone', 'pipeline.progress')]
    assert misplaced(before) == [('ReadText', 'transforms.ocr'), ('Candidates', 'transforms.row_candidates'),
                                 ('Choose', 'transforms.predict'), ('MarkProgress', 'pipeline.progress')]


def test_the_logic_package_imports_no_beam():
    modules = sorted(name[:-3] for name in os.listdir(LOGIC) if name.endswith('.py') and name != '__init__.py')
    assert {'units', 'features', 'engines', 'chooser', 'confidence', 'priors', 'store_entries'} <= set(modules)
    code = ('import sys\n' + ''.join(f'import transforms.logic.{m}\n' for m in modules)
            + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'apache_beam'))")
    run = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == '[]'


def test_no_stage_module_is_left_without_a_label():
    """Each module of transforms/ is a stage on the graph, or one of the few the stages share."""
    shared = {'__init__', 'records', 'files', 'worker_exit'}
    stage_modules = {module.rsplit('.', 1)[1] for _, _, module in graph_stages()}
    modules = {name[:-3] for name in os.listdir(os.path.join(ROOT, 'transforms')) if name.endswith('.py')}
    assert modules - shared == stage_modules
