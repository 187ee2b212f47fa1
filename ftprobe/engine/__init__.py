"""The engine layer: loading tasks and encoders (fine-tuned ones too), pooling, extraction,
the vector cache, probing, fine-tuning and run directories. It imports only the public surface
(``ftprobe.api``, ``errors``, ``settings``, ``pluginmanager``, ...), never a study, the report
or the CLI."""
