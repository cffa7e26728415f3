"""On-device speech: model packs (speaker encoder, acoustic model, vocoder) and their build recipes."""
