"""The report's build machinery, beside the VAE package: the paper's values, reuse records of executed notebooks,
table typesetting and the checks of figures. Used by ``scripts/``; ``vae_utils`` never imports it.

paper (named values of report/paper.md), reuse (keys and records of notebook executions), typeset (table layouts
and floats), figure_checks (print-size check of a figure).
"""
