"""Body models behind one interface: Anny (embedded default) and SMPL, plus the compact
articulated point model that fitting runs on."""
