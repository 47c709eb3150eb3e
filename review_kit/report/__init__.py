"""The report wing: turns analysed data into what people read.

Owns the charts (`plots/`), the postmortem (`postmortem`: Jinja2 templates, Markdown and HTML
escaping, duration and time formatting), redaction for sharing (`redact`), the HTML export of
executed notebooks (`html_export`) and chart files keyed by their inputs (`chart_files`).

May import: the core and `analysis`. Never the store, loaders, notebook, automation or the
CLI: everything it renders is handed to it. Tests: tests/test_report.py, test_redact.py, test_plots_*.py,
test_chart_files.py.
"""
