"""Training (torch; never shipped): the MeshTalk network (`model`), its losses, the training
loop and recipe stages (`loop`), and the export to the runtime's weights file (`export`)."""
