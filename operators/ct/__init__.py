"""CT forward models: parallel-, fan- and cone-beam projectors with exact adjoints."""
