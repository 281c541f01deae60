"""The lab estate: simulated peers for `ganyun lab` and the tests, never imported by product code."""
