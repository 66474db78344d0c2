# The synthetic recipe for live video (tools/demo.py --live, the per-frame
# mode: the key frame is the newest frame of its clip). Two changes from
# yowo_plus_synthetic.py: the key frame is always the last clip frame, as in
# yowo_plus_synthetic_kflast.py, and the 3D stem keeps every frame
# (conv1_stride_t=1 instead of 2). An action starts or ends with the last
# step between two frames; at half the temporal resolution that step is
# blurred with the one before. Measured once (README, "Live video"): IDF1
# 0.843 against 0.801 for the key-frame-last recipe, frame-mAP@0.5 93.3
# against 93.2; 0.58 s per training iteration on 2 cores (0.37-0.47 s for
# yowo_plus_synthetic.py). Streaming (one 3D pass per window) still runs, but
# only a KFRS model is accurate at every window position (README, "Accuracy
# by key-frame position").
_base_ = ['./yowo_plus_synthetic_kflast.py']

model = dict(backbone_3d=dict(conv1_stride_t=1))
