// Where Kinora keeps its files (XDG locations via QStandardPaths), and the Hugging Face cache it
// shares with Python users (HF_HUB_CACHE > HF_HOME/hub > ~/.cache/huggingface/hub).
#pragma once

#include <QString>

namespace appcore {

/// ~/.local/share/Kinora: gallery, results.
QString dataDir();
/// Folder of generated results (images, videos, thumbnails).
QString galleryDir();
/// The huggingface_hub cache directory: HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > $HF_HOME/hub >
/// ${XDG_CACHE_HOME:-~/.cache}/huggingface/hub, exactly as huggingface_hub (defined in hub_config.cpp).
QString hubCacheDir();
/// ~/.config/Kinora/kinora.log etc.
QString logFilePath();

}  // namespace appcore
