"""The contract the five functions share, in one place.

Each function folder is packaged alone (`sam build` and `sam deploy` zip each
CodeUri folder; the handler is `app.handler`), so each folder holds a link
`_shared -> ../_shared` that packaging resolves into a copy: inside a deployed
function this is the top-level package `_shared`, beside `app.py`. A test
checks that every copy in a build and in an uploaded zip is this folder byte
for byte.

What lives here is what two functions must agree on, or what they would
otherwise each write again:

* `incident_item`: the incidents table's attribute names and status values;
* `incident_keys`: an incident's key and id, the state an approved restore
  puts in force and its approval marker, a document's digest;
* `decisions`: what a human decides and what the execution reads;
* `link_signature`: the signed approve / deny link (AskUser signs,
  ReceiveDecision checks) and the key it is signed with;
* `seal`: the canonical serialisation of an incident's sealed fields, and
  sealing and checking it with the stack's KMS HMAC key;
* `transient`: the AWS errors worth retrying, raised as `TransientError`;
* `targets`: what the state machine's target names (managed version, inline
  policy, attachment) and how to name its principal to IAM;
* `iam_reader`: the document IAM holds for a target, as IAM holds it;
* `harmless_version`: the version RevertPolicy puts in force;
* `sdk_clients`: SDK clients kept per sandbox.

Standard library, boto3 and botocore only (what the Lambda runtime has), and
relative imports inside the package.
"""
