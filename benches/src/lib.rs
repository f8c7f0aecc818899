//! Benchmarks and load generators for leadstream; see RESULTS.md.
