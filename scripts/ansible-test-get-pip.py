"""Stand-in for the pip bootstrap script that ansible-test downloads.

ansible-test creates its sanity venvs without pip and then runs a cached
``get-pip`` script fetched from a host this machine cannot reach. This one
does the same job offline: pip from the interpreter's own ``ensurepip``, then
``pip install`` of what ansible-test asked for (from the configured indexes).
"""
import subprocess
import sys

GET_PIP_ONLY_FLAGS = ("--no-setuptools", "--no-wheel")

if __name__ == "__main__":
    subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade", "--default-pip"])
    args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY_FLAGS]
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--upgrade"] + args)
