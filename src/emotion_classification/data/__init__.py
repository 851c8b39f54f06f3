"""FER2013 and other labelled data: reading, caching, splitting, class maps, augmentation."""
