(function(){var b=document.body;function count(){var n=0,t=0;for(var i=0;i<document.images.length;i++){
var m=document.images[i];t++;if(m.complete&&m.naturalWidth>0)n++;}b.setAttribute('data-images',t);
b.setAttribute('data-images-loaded',n);}for(var i=0;i<document.images.length;i++)
document.images[i].addEventListener('load',count);window.addEventListener('load',count);count();})();
