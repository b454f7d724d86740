"""A deliberately vulnerable sample: bandit's SARIF in this folder was made from it.
Never imported or run; it exists only to be scanned."""

import hashlib
import pickle
import subprocess

import yaml


def run(user_input):
    return subprocess.call("ls " + user_input, shell=True)


def load(blob):
    return pickle.loads(blob)


def config(text):
    return yaml.load(text)


def fingerprint(data):
    return hashlib.md5(data).hexdigest()


def evaluate(expression):
    return eval(expression)


PASSWORD = "hunter2-but-longer"
