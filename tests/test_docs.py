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
    """Link targets in a Markdown file outside its code blocks, less web links and the #fragment."""
    targets = LINK.findall(FENCE.sub('', read(path)))
    return [t.split('#')[0] for t in targets if not re.match(r'[a-z]+:', t) and not t.startswith('#')]


def test_readme_fits_a_screen():
    assert len(read(README).splitlines()) <= 200


def test_every_relative_link_points_at_a_file():
    assert len(PAGES) >= 10
    for path in [README] + PAGES:
        for target in relative_links(path):
            assert os.path.exists(os.path.join(os.path.dirname(path), target)), f'{path}: {target}'


def test_readme_links_every_docs_page():
    linked = {os.path.normpath(os.path.join(ROOT, t)) for t in relative_links(README)}
    assert set(PAGES) <= linked, set(PAGES) - linked


def test_link_finder_sees_links_and_skips_code(tmp_path):
    page = tmp_path / 'page.md'
    page.write_text('[a](a.md) ![b](img/b.png) [c](https://x.org) [d](#top) [e](e.md#part)\n'
                    '```\nprint([x](y))\n```\n')
    assert relative_links(str(page)) == ['a.md', 'img/b.png', 'e.md']


def test_options_table_is_the_options_class():
    from tools.write_metadata import OPTIONS_DOC_PATH, option_actions, with_options_table
    page = read(OPTIONS_DOC_PATH)
    assert page == with_options_table(page), 'docs/options.md is stale: run python tools/write_metadata.py'
    rows = [line for line in page.splitlines() if line.startswith('| `--')]
    assert [row.split('`')[1] for row in rows] == [f'--{a.dest}' for a in option_actions()]
    assert '`--skip_cnn` | off |' in page and '`none`' in page
