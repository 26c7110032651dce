"""Models: the model file (``file``), one module per architecture (``musicnn``, ``vgg``,
``featuremlp``, ``samplecnn``) and their ``heads``, the ``registry`` that builds them, the
``Network`` protocol (``base``) and its two runtimes, PyTorch (``net``) and ONNX Runtime
(``onnx``), chosen by ``loader``."""
