"""The Streamlit glue that the thin `pages/` call: sidebar settings, cached pipelines, widgets, and the
live webcam's frame processor. Takes the page's uploads and browser frames; gives annotated pictures,
tables and counts."""
