"""Data: the sample schema and its validating loader (GRIT_data JSONL layout), and safe image reading."""

from grit.data.images import load_image
from grit.data.loader import LoadResult, load_samples, read_samples
from grit.data.schema import DataError, DataProblem, Sample

__all__ = ["DataError", "DataProblem", "LoadResult", "Sample", "load_image", "load_samples", "read_samples"]
