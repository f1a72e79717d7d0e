"""What the tests share: personas' credentials, clocks, forgers, runners. Imported by test
modules and conftest files; no test module imports another, nor a conftest."""
