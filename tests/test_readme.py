"""The README's quick start is what CI runs, so a missing install step fails CI."""
import os.path as osp
import re

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def _quick_start_commands() -> list:
    readme = open(osp.join(ROOT, 'README.md')).read()
    section = readme.split('## Quick start', 1)[1].split('\n## ', 1)[0]
    blocks = re.findall(r'```bash\n(.*?)```', section, flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines()
            if line.strip() and not line.strip().startswith('#')]


def test_ci_runs_the_readme_setup_and_test_commands():
    commands = _quick_start_commands()
    setup, test = commands[0], commands[-1]
    assert setup == 'bash tools/install.sh'
    assert test.startswith('python -m pytest')
    ci_lines = [line.strip() for line in open(osp.join(ROOT, '.ci', 'run'))
                if line.strip() and not line.lstrip().startswith(('#', 'echo', 'set ', 'cd '))]
    assert ci_lines == [setup, test]
