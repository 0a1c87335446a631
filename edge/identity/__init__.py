"""Face identity: alignment, embedders and the enrolled gallery."""
