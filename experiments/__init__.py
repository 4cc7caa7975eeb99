"""Scripts and configs: training runs, benchmarks, evaluations, figures. Library code never
imports this package."""
