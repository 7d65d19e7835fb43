"""Analysis-by-synthesis fitting of a Neural Body Volume to image features."""
