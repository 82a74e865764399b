"""Privacy of the people FaceGate knows (issue 12): retention of events and snapshots, the subject
access export, and what the door screen shows of a person (kiosk privacy). ``PrivacyFacade``
(facade.py) is the part of ``FaceGate`` that offers them."""
