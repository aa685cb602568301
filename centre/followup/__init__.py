"""What nurses do with the worklist: acknowledgements, readings marked invalid, reviews."""
