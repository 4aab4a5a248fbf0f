"""Pure ML code (torch, transformers, peft, trl) for the training workbench; no Django import here."""
