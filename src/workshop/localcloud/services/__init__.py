"""One module or package per gap moto leaves in an AWS service, each at its own moto seams (seams.py).

Services do not import each other: where one needs another (an EventBridge
target starting a state machine, CloudFormation making an API Gateway API),
the server's wiring (server/wiring.py) connects them, and what they share
(the route paths, the keys, the in-process client) is in server/.
"""
