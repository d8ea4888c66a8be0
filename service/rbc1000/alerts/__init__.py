"""The edge: alert bytes (ZTF containers, Confluent-framed Rubin and WFST) to frozen `Alert` records."""
