"""grit: teach vision-language models to think with images (GRIT, arXiv 2505.15879)."""

__version__ = "0.1.0"
