"""The mlops-platform stack program: settings, composition, offline plan."""
