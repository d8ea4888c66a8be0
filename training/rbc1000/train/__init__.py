"""The offline RB-C1000 pipeline (`rbc-train`, extra `train`): datasets, ITS/ALS/SSLS, export."""
