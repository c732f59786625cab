"""Machine learning on cubes (no Prefect here): next-step forecasting of one variable, trained with PyTorch.

- :mod:`cubes.ml.config`: what a model is (:class:`~cubes.ml.config.ModelConfig`);
- :mod:`cubes.ml.features`: samples from a cube (lags, anomalies from the training climatology, the month);
- :mod:`cubes.ml.metrics`: RMSE, MAE, skill, and the persistence and climatology baselines;
- :mod:`cubes.ml.network`: the network and the device (CUDA when the process has one, CPU otherwise);
- :mod:`cubes.ml.train`: training with a checkpoint per epoch, evaluation on the held-out period;
- :mod:`cubes.ml.saved`: a trained model on disk (weights, config, normalisation, fingerprint, metrics);
- :mod:`cubes.ml.predict`: a saved model applied to a cube, the predictions written as a cube;
- :mod:`cubes.ml.remote`: training and forecasting as Dask tasks that need the ``GPU`` worker resource.

PyTorch is the optional extra ``ml`` (``pip install esdl[ml]``), imported only through
:func:`cubes.ml.network.import_torch`, which names the extra when it is missing.
"""
