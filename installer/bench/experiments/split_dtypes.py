"""diffusers with the transformer and the VAE in different dtypes (bf16 / float32), against the float32 goldens: how
much of the bf16 image error is the DC-AE decode's. usage: python3 split_dtypes.py REF_DIR GOLDEN_DIR"""
import sys, os, json
REF, GOLD = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(REF, "src"))
import torch
from safetensors.torch import load_file
from diffusers import (SanaPipeline, SanaSprintPipeline, SanaTransformer2DModel, AutoencoderDC,
                       DPMSolverMultistepScheduler, SCMScheduler)
def rel_l2(a, b):
    a, b = a.double().cpu(), b.double().cpu()
    return float((a - b).norm() / b.norm())
for case, sprint in [("sana_sprint_pipeline_tiny", True), ("sana_pipeline_tiny", False)]:
    d = os.path.join(GOLD, case)
    io = load_file(os.path.join(d, "io.safetensors"))
    for dt, vdt in [(torch.bfloat16, torch.float32), (torch.float32, torch.bfloat16), (torch.bfloat16, torch.bfloat16)]:
        tr = SanaTransformer2DModel.from_pretrained(os.path.join(d, "transformer"), torch_dtype=dt).to("cuda")
        vae = AutoencoderDC.from_pretrained(os.path.join(d, "vae"), torch_dtype=vdt).to("cuda")
        sch = (SCMScheduler if sprint else DPMSolverMultistepScheduler).from_pretrained(os.path.join(d, "scheduler"))
        P = SanaSprintPipeline if sprint else SanaPipeline
        pipe = P(tokenizer=None, text_encoder=None, transformer=tr, vae=vae, scheduler=sch)
        kw = dict(prompt_embeds=io["prompt_embeds"].to("cuda", dt), prompt_attention_mask=io["prompt_attention_mask"].to("cuda"),
                  height=64, width=96, num_inference_steps=2 if sprint else 4, guidance_scale=4.5,
                  generator=torch.Generator("cpu").manual_seed(42), output_type="pt", use_resolution_binning=False)
        if not sprint:
            kw.update(negative_prompt=None, negative_prompt_embeds=io["negative_prompt_embeds"].to("cuda", dt),
                      negative_prompt_attention_mask=io["negative_prompt_attention_mask"].to("cuda"))
        with torch.no_grad():
            img = pipe(**kw).images
        diff = (img.float().cpu() - io["image"]).abs()
        idx = int(diff.argmax())
        print(json.dumps({"case": case, "transformer": str(dt), "vae": str(vdt), "image_rel_l2": round(rel_l2(img.float(), io["image"]), 6),
                          "max_abs": round(float(diff.max()), 5), "argmax": list(torch.unravel_index(torch.tensor(idx), diff.shape))
                          if hasattr(torch, "unravel_index") else idx}, default=lambda t: int(t)), flush=True)
