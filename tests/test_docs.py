"""README.md and docs/: a README that fits a screen, links that lead somewhere, and an options
table that is the options class's (written by tools/write_metadata.py, like templates/metadata.json)."""
import glob
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
PAGES = sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))
LINK = re.compile(r'\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'^```.*?^```', re.M | re.S)


def read(path):
    with open(path) as handle:
        return handle.read()


def relative_links(path):
    """Link targets in a Markdown file outside its code blocks, less web links: (file, #fragment)."""
    targets = LINK.findall(FENCE.sub('', read(path)))
    return [tuple(t.partition('#')[::2]) for t in targets if not re.match(r'[a-z]+:', t)]


def anchors(path):
    """The #fragments GitHub gives a Markdown file's headings."""
    headings = re.findall(r'^#+ (.*)$', FENCE.sub('', read(path)), re.M)
    return {re.sub(r'[^\w\- ]', '', h.strip().lower()).replace(' ', '-') for h in headings}


def test_readme_fits_a_screen():
    assert len(read(README).splitlines()) <= 200


def test_every_relative_link_points_at_a_file():
    assert len(PAGES) >= 10
    for path in [README] + PAGES:
        for target, fragment in relative_links(path):
            linked = os.path.join(os.path.dirname(path), target) if target else path
            assert os.path.exists(linked), f'{path}: {target}'
            if fragment:
                assert fragment in anchors(linked), f'{path}: {target}#{fragment}'


def test_readme_links_every_docs_page():
    linked = {os.path.normpath(os.path.join(ROOT, t)) for t, _ in relative_links(README)}
    assert set(PAGES) <= linked, set(PAGES) - linked


def test_link_finder_sees_links_and_skips_code(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('# The CNN: `make model`\n[a](a.md) ![b](img/b.png) [c](https://x.org) [d](#top) [e](e.md#part)\n'
                    '```\nprint([x](y))\n# not a heading\n```\n')
    assert relative_links(str(page)) == [('a.md', ''), ('img/b.png', ''), ('', 'top'), ('e.md', 'part')]
    assert anchors(str(page)) == {'the-cnn-make-model'}


def test_options_table_is_the_options_class():
    from tools.write_metadata import OPTIONS_DOC_PATH, option_actions, with_options_table
    page = read(OPTIONS_DOC_PATH)
    assert page == with_options_table(page), 'docs/options.md is stale: run python tools/write_metadata.py'
    rows = [line for line in page.splitlines() if line.startswith('| `--')]
    assert [row.split('`')[1] for row in rows] == [f'--{a.dest}' for a in option_actions()]
    # each documented default is what a run without the option gets
    from pipeline.options import REQUIRED_OPTIONS, default_options
    options = default_options()
    for row in rows:
        name, shown = row.split('`')[1][2:], row.split(' | ')[1]
        default = getattr(options, name)
        if name in REQUIRED_OPTIONS:
            assert shown == '(required)'
        elif default is None or default is False:
            assert shown == ('off' if default is False else 'none'), name
        else:
            assert shown == f'`{default}`', name
