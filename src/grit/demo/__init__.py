"""``grit demo``: a web page that streams a grounded chain and draws its boxes on the image as they are written.

:mod:`grit.demo.stream` decides which boxes of a partial chain are complete, :mod:`grit.demo.view` turns a
partial chain into what the page shows, :mod:`grit.demo.ask` checks the inputs and streams one answer, and
:mod:`grit.demo.app` is the Gradio page (the only module that imports gradio).
"""
