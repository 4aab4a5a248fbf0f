"""Data exchange for the labeling app: files in, files out, frozen snapshots.

- `formats/`: one module per import format, each registering itself in `formats.FORMATS`;
- `files.py`: reading JSONL / JSON / CSV / Parquet (`.gz` for the text ones) into records;
- `rows.py`: the `Row` every format produces, the shared field validators and their errors;
- `writer.py`: the one writer of new prompts, responses, items (and imported judgments);
- `imports.py`: the import service (stage -> preview -> confirm) the CLI, the web and the API call;
- `exporters.py`: a project's judgments in TRL's formats; `snapshots.py`: exports frozen as files;
- `views.py`: the researcher pages for all of the above.
"""
