"""The text side: documents in, spoken-form sentences out."""
