"""Engine-independent rendering helpers: the frame size a job renders at (frame_size) and the
paste-back of square face frames into the original portrait (paste_back)."""
