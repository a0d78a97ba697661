"""Evaluation on the blind test: metrics (against the labels and, on the mock sky, the truth), interval
coverage, the top-N and variant comparisons, and the model figures of the poster."""

from .metrics import (
    binned_residuals,
    compare_variants,
    evaluate_model,
    evaluate_run,
    regression_metrics,
    topn_mae,
)

__all__ = ["regression_metrics", "binned_residuals", "evaluate_model", "compare_variants", "topn_mae", "evaluate_run"]
