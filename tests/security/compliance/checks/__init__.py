"""One folder per compliance check, mirroring security/compliance/checks/<check_id>/: each
test_<check_id>.py holds at least a failing and a passing case of that check."""
