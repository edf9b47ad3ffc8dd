"""Plots of a pipeline run: the student's metric over training, a synthetic grid, teacher vs student costs."""
import glob
import os.path as osp
import re
import shutil
from typing import Dict


def write_plots(results: dict, metric_name: str, distill_dir: str, out_dir: str) -> Dict[str, str]:
    """``student_metric_vs_iter.png``, ``synthetic_grid.png``, ``teacher_vs_student.png``; returns those written.

    Args:
        results (dict): what :func:`~mmdfkd.apis.run_pipeline` returns
            (``rows``, and ``distill.val_curve``).
        metric_name (str): the row metric plotted, e.g. ``'mAP'``.
        distill_dir (str): the distillation run's work dir (its
            ``synthetic/iter_<n>.png`` grids).
        out_dir (str): where the PNGs go.
    """
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    written = {}
    points = [(r['step'], r[metric_name]) for r in results['distill']['val_curve'] if metric_name in r]
    if points:
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot([p[0] for p in points], [p[1] for p in points], 'o-', label='data-free student')
        teacher = results['rows'][0]['metrics'].get(metric_name)
        if teacher is not None:
            ax.axhline(teacher, color='grey', linestyle='--', label='teacher')
        ax.set_xlabel('iteration')
        ax.set_ylabel(f'{metric_name} (real val)')
        ax.set_title('student during data-free distillation')
        ax.legend()
        fig.tight_layout()
        written['metric_vs_iter'] = osp.join(out_dir, 'student_metric_vs_iter.png')
        fig.savefig(written['metric_vs_iter'], dpi=100)
        plt.close(fig)
    grids = sorted(glob.glob(osp.join(distill_dir, 'synthetic', 'iter_*.png')),
                   key=lambda p: int(re.findall(r'iter_(\d+)', p)[-1]))
    if grids:
        written['synthetic_grid'] = osp.join(out_dir, 'synthetic_grid.png')
        shutil.copyfile(grids[-1], written['synthetic_grid'])
    rows = results['rows']
    panels = [(metric_name, 'metric', 1), ('params (M)', 'params', 1e-6), ('GFLOPs', 'flops', 1e-9),
              ('CPU latency (ms)', 'latency_ms', 1)]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.5))
    for ax, (title, key, scale) in zip(axes, panels):
        values = [(r['metrics'].get(metric_name) if key == 'metric' else r.get(key)) for r in rows]
        ax.bar(range(len(rows)), [(v or 0) * scale for v in values],
               color=['tab:blue', 'tab:orange', 'tab:green', 'tab:red'][:len(rows)])
        ax.set_xticks(range(len(rows)), [r['name'] for r in rows], rotation=20, ha='right', fontsize=8)
        ax.set_title(title)
    fig.tight_layout()
    written['teacher_vs_student'] = osp.join(out_dir, 'teacher_vs_student.png')
    fig.savefig(written['teacher_vs_student'], dpi=100)
    plt.close(fig)
    return written
