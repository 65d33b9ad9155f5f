"""DynoNet re-implementation (issue: DynoNet); importing this package registers its model."""
